"""The Function App: registers each stage's blueprint and nothing else (no settings, no clients)."""

import azure.functions as func

from functions import api, dashboard, operations, pipeline, verifactu_sender, webhooks

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(webhooks.bp)
app.register_functions(pipeline.bp)
app.register_functions(api.bp)
app.register_functions(dashboard.bp)
app.register_functions(operations.bp)
app.register_functions(verifactu_sender.bp)
