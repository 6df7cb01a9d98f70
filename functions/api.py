"""The order API for people and tools: health, one order with its timeline, lists by state, retry, documents."""

from __future__ import annotations

import azure.functions as func

from functions.http import http_errors, json_response, request_actor
from shared.bootstrap import services
from shared.handlers import catalog, operations
from shared.handlers import stock_table as stock_tables
from shared.handlers.documents import get_document, get_printable_invoice, printable_name
from shared.handlers.health import health_report
from shared.handlers.simulate import simulate_order
from shared.handlers.verifactu import verifactu_records
from shared.texts import choose_language

bp = func.Blueprint()


def _lang(req: func.HttpRequest) -> str:
    """The reader's language for stored problems and timeline sentences: ?lang=, else Accept-Language, else English."""
    return choose_language(req.params.get("lang"), req.headers.get("accept-language", ""))


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@http_errors
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = health_report(services())
    return json_response(200 if report["status"] == "ok" else 503, report)


@bp.function_name("get_order")
@bp.route(route="orders/{store_id}/{order_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def get_order(req: func.HttpRequest) -> func.HttpResponse:
    detail = operations.order_detail(services(), req.route_params["store_id"], req.route_params["order_id"], _lang(req))
    return json_response(200, detail)


@bp.function_name("list_orders")
@bp.route(route="orders", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def list_orders(req: func.HttpRequest) -> func.HttpResponse:
    params = req.params
    body = operations.list_orders(services(), params.get("store"), params.get("state"), params.get("limit"), _lang(req))
    return json_response(200, body)


@bp.function_name("retry_order")
@bp.route(route="orders/{store_id}/{order_id}/retry", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def retry_order(req: func.HttpRequest) -> func.HttpResponse:
    store_id, order_id = req.route_params["store_id"], req.route_params["order_id"]
    record = operations.retry_order(services(), store_id, order_id, actor=request_actor(req))
    return json_response(202, operations.order_summary(record, _lang(req)))


@bp.function_name("sku_map")
@bp.route(route="stores/{store_id}/sku-map", methods=["GET", "PUT"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def sku_map(req: func.HttpRequest) -> func.HttpResponse:
    store_id = req.route_params["store_id"]
    if req.method == "PUT":
        content_type = req.headers.get("content-type", "")
        imported = catalog.import_sku_map(services(), store_id, req.get_body(), content_type, actor=request_actor(req))
        return json_response(200, imported)
    as_json = req.params.get("format") == "json" or "json" in req.headers.get("accept", "")
    exported, content_type = catalog.export_sku_map(services(), store_id, as_json)
    return func.HttpResponse(exported, status_code=200, headers={"Content-Type": content_type})


@bp.function_name("unmapped_skus")
@bp.route(route="stores/{store_id}/unmapped-skus", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def unmapped_skus(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, {"unmapped": catalog.unmapped_skus(services(), req.route_params["store_id"])})


@bp.function_name("verifactu_records")
@bp.route(route="stores/{store_id}/verifactu", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def get_verifactu_records(req: func.HttpRequest) -> func.HttpResponse:
    store_id = req.route_params["store_id"]
    return json_response(200, verifactu_records(services(), store_id, req.params.get("after"), req.params.get("limit")))


@bp.function_name("simulate")
@bp.route(route="simulate/{store_id}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def simulate(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, simulate_order(services(), req.route_params["store_id"], req.get_body(), _lang(req)))


@bp.function_name("stock_table")
@bp.route(route="stores/{store_id}/stock", methods=["GET", "PUT"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def stock_table(req: func.HttpRequest) -> func.HttpResponse:
    """The UBL target's stock table (shared.handlers.stock_table): PUT a CSV or JSON count, GET what is kept."""
    store_id = req.route_params["store_id"]
    if req.method == "PUT":
        imported = stock_tables.import_stock_table(
            services(), store_id, req.get_body(), req.headers.get("content-type", "")
        )
        return json_response(200, imported)
    return json_response(200, stock_tables.export_stock_table(services(), store_id))


@bp.function_name("get_document")
@bp.route(route="documents/{store_id}/{number}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@http_errors
def get_document_xml(req: func.HttpRequest) -> func.HttpResponse:
    number = req.route_params["number"]
    printable = printable_name(number)
    if printable is not None:
        # One route serves both names: `{number}.pdf` and `{number}` would both match "INV-7.pdf".
        return _printable_invoice(req, printable)
    document = get_document(services(), req.route_params["store_id"], number)
    headers = {
        "Content-Type": document.content_type,
        "Content-Disposition": f'inline; filename="{number}.xml"',
        # A stored document is data, never a page: no scripts, no sniffing into HTML.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Content-Type-Options": "nosniff",
    }
    return func.HttpResponse(document.content, status_code=200, headers=headers)


def _printable_invoice(req: func.HttpRequest, number: str) -> func.HttpResponse:
    # Spanish unless asked otherwise: the invoices are Spanish sellers' (?lang=en, Accept-Language).
    lang = choose_language(req.params.get("lang"), req.headers.get("accept-language", ""), fallback="es")
    pdf = get_printable_invoice(services(), req.route_params["store_id"], number, lang)
    headers = {
        "Content-Type": "application/pdf",
        "Content-Disposition": f'inline; filename="{number}.pdf"',
        "Content-Language": lang,
        "X-Content-Type-Options": "nosniff",
    }
    return func.HttpResponse(pdf, status_code=200, headers=headers)
