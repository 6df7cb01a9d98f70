"""Offline checks of infra/: every Bicep file parses (tree-sitter-bicep) and declares the production setup.

`az bicep build` and `az bicep lint` run in CI (they need the Bicep CLI); these tests need nothing
outside the repository.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.adapters.claimcheck import CONTAINER as CLAIM_CHECK_CONTAINER
from shared.adapters.tables import TABLES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
QUEUES = ["order-events", "invoice-requests", "stock-updates", "payment-events"]
ROLE_IDS = {
    "Azure Service Bus Data Sender": "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
    "Azure Service Bus Data Receiver": "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "Azure Service Bus Data Owner": "090c5cfd-751d-490a-894a-3ce6f1109419",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
}


def _one(bicep: dict[str, Any], file: str, type_: str) -> Any:
    (resource,) = bicep[file].of_type(type_)
    return resource


def _app_settings(bicep: dict[str, Any]) -> dict[str, str]:
    module = bicep["modules/functionapp.bicep"]
    site = _one(bicep, "modules/functionapp.bicep", "Microsoft.Web/sites")
    combined = site.body["properties"]["siteConfig"]["appSettings"]
    names = re.fullmatch(r"concat\((.*)\)", combined)
    assert names, f"appSettings is {combined!r}: expected concat(...) of variables"
    settings: dict[str, str] = {}
    for variable in (part.strip() for part in names.group(1).split(",")):
        value = module.variables[variable]
        for item in value if isinstance(value, list) else [value]:
            settings[str(item["name"])] = str(item["value"])
    return settings


def test_every_bicep_file_parses_without_errors(bicep: dict[str, Any]) -> None:
    assert {"main.bicep", "modules/functionapp.bicep", "modules/servicebus.bicep"} <= set(bicep)
    problems = [problem for file in bicep.values() for problem in file.problems()]
    assert problems == []


def test_parameter_files_parse_and_name_only_declared_parameters(bicep: dict[str, Any]) -> None:
    import tree_sitter as ts
    import tree_sitter_bicep

    parser = ts.Parser(ts.Language(tree_sitter_bicep.language()))
    declared = set(bicep["main.bicep"].params)
    files = sorted((INFRA / "env").glob("*.bicepparam"))
    assert {f.stem for f in files} >= {"dev", "prod"}
    for path in files:
        text = path.read_text()
        assert re.search(r"^using '\.\./main\.bicep'$", text, re.M)
        # tree-sitter-bicep 1.1.0 knows `param name type = value` only; .bicepparam omits the type.
        typed = re.sub(r"^param (\w+) =", r"param \1 any =", text, flags=re.M)
        tree = parser.parse(typed.encode())
        assert not tree.root_node.has_error, path.name
        names = set(re.findall(r"^param (\w+) =", text, re.M))
        assert names <= declared, path.name
        assert {"environmentName", "location"} <= names
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(azd) <= declared and {"environmentName", "location"} <= set(azd)


def test_function_app_is_flex_consumption_python_311_with_user_assigned_identity(bicep: dict[str, Any]) -> None:
    plan = _one(bicep, "modules/functionapp.bicep", "Microsoft.Web/serverfarms")
    assert plan.body["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = _one(bicep, "modules/functionapp.bicep", "Microsoft.Web/sites")
    assert site.body["kind"] == "functionapp,linux"
    assert site.body["identity"]["type"] == "UserAssigned"
    properties = site.body["properties"]
    assert properties["httpsOnly"] is True
    assert properties["keyVaultReferenceIdentity"] == "identityId"
    config = properties["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert "azd-service-name" in site.body["tags"]
    assert _one(bicep, "modules/identity.bicep", "Microsoft.ManagedIdentity/userAssignedIdentities")


def test_app_settings_use_identity_connections_and_key_vault_references(bicep: dict[str, Any]) -> None:
    settings = _app_settings(bicep)
    assert settings["ServiceBusConnection__fullyQualifiedNamespace"] == "serviceBusNamespaceFqdn"
    assert settings["ServiceBusConnection__credential"] == "managedidentity"
    assert settings["ServiceBusConnection__clientId"] == "identityClientId"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert (settings["STATE_BACKEND"], settings["BUS_BACKEND"]) == ("tables", "servicebus")
    assert settings["TABLES_ENDPOINT"] == "tableEndpoint"
    assert settings["CLAIM_CHECK_BLOB_ENDPOINT"] == "blobEndpoint"
    assert settings["DOCUMENT_STORE"] == "blob"
    assert settings["DOCUMENTS_ACCOUNT_URL"] == "documentsBlobEndpoint"
    assert settings["DOCUMENTS_CONTAINER"] == "documentsContainerName"
    assert "DOCUMENTS_CONNECTION" not in settings
    # Flex Consumption sets the runtime in functionAppConfig and refuses these as app settings.
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings and "FUNCTIONS_EXTENSION_VERSION" not in settings
    assert "AzureWebJobsStorage" not in settings and "TABLES_CONNECTION_STRING" not in settings
    assert settings["secret.setting"].startswith("@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/")
    secrets = bicep["main.bicep"].params["storeSecrets"]
    assert {s["setting"] for s in secrets} == {"DEMO_WOO_SECRET", "DEMO_SHOPIFY_SECRET"}


def test_no_keys_or_secrets_in_outputs_settings_or_templates(bicep: dict[str, Any]) -> None:
    for file in bicep.values():
        assert "listKeys(" not in file.text and "listConnectionStrings(" not in file.text, file.path.name
        assert "AccountKey=" not in file.text and "SharedAccessKey" not in file.text, file.path.name
        for name, expression in file.outputs.items():
            assert not re.search(r"secret|password|accesskey|accountkey|(^|_)keys?$", name, re.I), (
                file.path.name,
                name,
            )
            assert "listKeys" not in expression
    leaky = [name for name in bicep["main.bicep"].outputs if "connection" in name.lower()]
    assert leaky == []
    settings = _app_settings(bicep)
    # The Application Insights connection string names the ingestion endpoint; with local auth off
    # (DisableLocalAuth) it grants nothing without an Entra token, so it is the one allowed.
    connection_like = {name for name in settings if "CONNECTION_STRING" in name.upper()}
    assert connection_like == {"APPLICATIONINSIGHTS_CONNECTION_STRING"}
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith("Authorization=AAD")


def test_service_bus_queues_have_sessions_duplicate_detection_and_dead_lettering(bicep: dict[str, Any]) -> None:
    namespace = _one(bicep, "modules/servicebus.bicep", "Microsoft.ServiceBus/namespaces")
    assert namespace.body["sku"]["name"] == "Standard"  # Basic has neither sessions nor duplicate detection
    assert namespace.body["properties"]["disableLocalAuth"] is True
    queues = _one(bicep, "modules/servicebus.bicep", "Microsoft.ServiceBus/namespaces/queues")
    assert queues.loop
    properties = queues.body["properties"]
    assert properties["requiresSession"] is True
    assert properties["requiresDuplicateDetection"] is True
    assert properties["duplicateDetectionHistoryTimeWindow"] == "P7D"  # the service's maximum
    assert properties["deadLetteringOnMessageExpiration"] is True
    assert properties["maxDeliveryCount"] == "maxDeliveryCount"
    assert bicep["modules/servicebus.bicep"].params["maxDeliveryCount"] == 10
    assert bicep["main.bicep"].variables["queueNames"] == QUEUES


def test_storage_has_the_state_tables_and_both_containers(bicep: dict[str, Any]) -> None:
    storage = bicep["modules/storage.bicep"]
    account = _one(bicep, "modules/storage.bicep", "Microsoft.Storage/storageAccounts")
    assert account.body["properties"]["allowSharedKeyAccess"] is False
    assert account.body["properties"]["allowBlobPublicAccess"] is False
    tables = _one(bicep, "modules/storage.bicep", "Microsoft.Storage/storageAccounts/tableServices/tables")
    assert tables.loop and storage.params["tableNames"] == list(TABLES)
    containers = storage.of_type("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert len(containers) == 2
    passed = bicep["main.bicep"].modules["storage"]["params"]
    assert passed["claimCheckContainerName"] == CLAIM_CHECK_CONTAINER
    assert passed["deploymentContainerName"]


def test_application_insights_is_workspace_based_with_entra_only_ingestion(bicep: dict[str, Any]) -> None:
    assert _one(bicep, "modules/monitoring.bicep", "Microsoft.OperationalInsights/workspaces")
    insights = _one(bicep, "modules/monitoring.bicep", "Microsoft.Insights/components")
    assert insights.body["properties"]["WorkspaceResourceId"] == "workspace.id"
    assert insights.body["properties"]["DisableLocalAuth"] is True


def test_key_vault_uses_rbac(bicep: dict[str, Any]) -> None:
    vault = _one(bicep, "modules/keyvault.bicep", "Microsoft.KeyVault/vaults")
    assert vault.body["properties"]["enableRbacAuthorization"] is True
    assert vault.body["properties"]["enableSoftDelete"] is True


def test_role_assignments_grant_the_app_identity_least_privilege(bicep: dict[str, Any]) -> None:
    roles = bicep["modules/roles.bicep"]
    ids_by_variable = {name: value for name, value in roles.variables.items() if isinstance(value, str)}
    assignments = roles.of_type("Microsoft.Authorization/roleAssignments")
    granted: dict[str, str] = {}
    for assignment in assignments:
        properties = assignment.body["properties"]
        variable = re.search(r"roleDefinitions', (\w+)\)", properties["roleDefinitionId"])
        assert variable, properties["roleDefinitionId"]
        if properties["principalId"] == "principalId":
            assert properties["principalType"] == "ServicePrincipal"
            granted[ids_by_variable[variable.group(1)]] = str(assignment.body["scope"])
    assert granted[ROLE_IDS["Azure Service Bus Data Sender"]] == "serviceBus"
    assert granted[ROLE_IDS["Azure Service Bus Data Receiver"]] == "serviceBus"
    assert granted[ROLE_IDS["Storage Table Data Contributor"]] == "storage"
    assert granted[ROLE_IDS["Key Vault Secrets User"]] == "vault"
    # The Functions documentation's roles for a Service Bus trigger (Receiver, Owner) and sender, namespace only.
    assert granted[ROLE_IDS["Azure Service Bus Data Owner"]] == "serviceBus"
    # Documents: Blob Data Contributor on the `documents` container, not the account.
    assert granted[ROLE_IDS["Storage Blob Data Contributor"]] == "documents::blobService::container"
    owner_like = {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "b24988ac-6180-42a0-ab88-20f7382dd24c"}
    assert not owner_like & set(granted), "Owner/Contributor are never granted"


def test_alert_rules_cover_the_order_flow(bicep: dict[str, Any]) -> None:
    alerts = bicep["modules/alerts.bicep"]
    metric = _one(bicep, "modules/alerts.bicep", "Microsoft.Insights/metricAlerts")
    (criterion,) = metric.body["properties"]["criteria"]["allOf"]
    assert criterion["metricName"] == "DeadletteredMessages"
    rules = _one(bicep, "modules/alerts.bicep", "Microsoft.Insights/scheduledQueryRules")
    assert rules.loop
    queries = {alert["key"]: alert["query"] for alert in alerts.variables["logAlerts"]}
    assert set(queries) == {
        "held-orders-rising",
        "failure-rate",
        "intake-5xx",
        "stuck-orders",
        "queue-age",
        "webhooks-unhealthy",
    }
    # The queries read the metric names shared/telemetry.py emits.
    assert '"orders_held"' in queries["held-orders-rising"]
    assert '"orders_failed"' in queries["failure-rate"] and '"orders_received"' in queries["failure-rate"]
    assert "/api/webhooks/" in queries["intake-5xx"] and "resultCode" in queries["intake-5xx"]
    assert '"orders_stuck"' in queries["stuck-orders"]
    assert '"queue_age_seconds"' in queries["queue-age"]
    assert '"webhooks_unhealthy"' in queries["webhooks-unhealthy"]


def test_workbook_shows_the_order_flow(bicep: dict[str, Any]) -> None:
    workbook = _one(bicep, "modules/workbook.bicep", "Microsoft.Insights/workbooks")
    assert workbook.body["properties"]["serializedData"] == "loadTextContent('../workbook.json')"
    content = json.loads((INFRA / "workbook.json").read_text())
    assert content["version"] == "Notebook/1.0"
    queries = " ".join(item["content"].get("query", "") for item in content["items"])
    for metric in ("orders_received", "stage_latency_ms", "target_calls", "queue_age_seconds"):
        assert metric in queries


def test_azure_yaml_deploys_the_function_app_with_the_bicep_infra() -> None:
    config = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert config["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert config["services"]["api"]["host"] == "function"
    assert config["services"]["api"]["language"] == "python"


@pytest.mark.parametrize("file", ["main.bicep", "modules/functionapp.bicep"])
def test_templates_start_with_a_comment_saying_what_they_deploy(bicep: dict[str, Any], file: str) -> None:
    assert bicep[file].text.startswith("//")


# Issue 10: documents in Blob Storage, sign-in, network, scale limits, host.json -------------------------


def test_documents_have_their_own_account_and_container_with_an_optional_immutability_policy(bicep):
    from shared.adapters.documents_blob import CONTAINER

    account = _one(bicep, "modules/documents.bicep", "Microsoft.Storage/storageAccounts")
    assert account.body["properties"]["allowSharedKeyAccess"] is False
    assert account.body["properties"]["allowBlobPublicAccess"] is False
    assert account.body["properties"]["networkAcls"] == "networkAcls"
    container = _one(bicep, "modules/documents.bicep", "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container.body["properties"]["publicAccess"] == "None"
    assert bicep["main.bicep"].modules["documents"]["params"]["containerName"] == CONTAINER
    policy = _one(
        bicep,
        "modules/documents.bicep",
        "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies",
    )
    assert policy.conditional and policy.body["properties"]["allowProtectedAppendWrites"] is False
    assert bicep["modules/documents.bicep"].params["immutabilityDays"] == 0  # an option, off unless chosen
    # Only the documents container in that account: nothing else for the app to reach there.
    assert (
        len(bicep["modules/documents.bicep"].of_type("Microsoft.Storage/storageAccounts/blobServices/containers")) == 1
    )


def test_the_documents_role_is_the_only_grant_on_the_documents_account(bicep):
    roles = bicep["modules/roles.bicep"]
    scopes = [str(a.body["scope"]) for a in roles.of_type("Microsoft.Authorization/roleAssignments")]
    assert [scope for scope in scopes if scope.startswith("documents")] == ["documents::blobService::container"]


def test_service_bus_roles_are_granted_on_the_namespace_only(bicep):
    roles = bicep["modules/roles.bicep"]
    service_bus_roles = {
        value for name, value in roles.variables.items() if name.startswith("serviceBus") and isinstance(value, str)
    }
    assert service_bus_roles == {
        ROLE_IDS["Azure Service Bus Data Sender"],
        ROLE_IDS["Azure Service Bus Data Receiver"],
        ROLE_IDS["Azure Service Bus Data Owner"],
    }
    for assignment in roles.of_type("Microsoft.Authorization/roleAssignments"):
        if "serviceBus" in assignment.body["properties"]["roleDefinitionId"]:
            assert assignment.body["scope"] == "serviceBus"
    assert "queues" not in roles.text  # no queue-level grants


def test_people_sign_in_with_entra_id_except_on_webhooks_and_health(bicep):
    auth = _one(bicep, "modules/functionapp.bicep", "Microsoft.Web/sites/config")
    assert auth.body["name"] == "authsettingsV2" and auth.body["parent"] == "site"
    properties = auth.body["properties"]
    assert properties["platform"]["enabled"] is True
    validation = properties["globalValidation"]
    assert validation["requireAuthentication"] is True
    assert validation["unauthenticatedClientAction"] == "RedirectToLoginPage"
    assert validation["excludedPaths"] == "authExcludedPaths"
    assert bicep["modules/functionapp.bicep"].params["authExcludedPaths"] == ["/api/webhooks/*", "/api/health"]
    entra = properties["identityProviders"]["azureActiveDirectory"]
    assert entra["enabled"] is True and entra["registration"]["clientId"] == "authClientId"
    assert "clientSecretSettingName" not in entra["registration"]  # no secret to keep
    assert bicep["main.bicep"].modules["functionApp"]["params"]["authClientId"] == "authClientId"


def test_storage_and_key_vault_accept_only_the_app_subnet_when_restricted(bicep):
    main = bicep["main.bicep"]
    acls = main.variables["networkAcls"]
    assert acls.startswith("restrictNetworkAccess")
    assert "defaultAction: 'Deny'" in acls and "network.outputs.appSubnetId" in acls and "allowedIpRanges" in acls
    assert main.params["restrictNetworkAccess"] is True
    for module in ("storage", "documents", "keyVault"):
        assert main.modules[module]["params"]["networkAcls"] == "networkAcls", module
    for file, type_ in (
        ("modules/storage.bicep", "Microsoft.Storage/storageAccounts"),
        ("modules/keyvault.bicep", "Microsoft.KeyVault/vaults"),
    ):
        assert _one(bicep, file, type_).body["properties"]["networkAcls"] == "networkAcls", file
    vnet = _one(bicep, "modules/network.bicep", "Microsoft.Network/virtualNetworks")
    (subnet,) = vnet.body["properties"]["subnets"]
    assert subnet["properties"]["delegations"][0]["properties"]["serviceName"] == "Microsoft.App/environments"
    endpoints = {e["service"] for e in subnet["properties"]["serviceEndpoints"]}
    assert endpoints == {"Microsoft.Storage", "Microsoft.KeyVault"}
    site = _one(bicep, "modules/functionapp.bicep", "Microsoft.Web/sites")
    assert site.body["properties"]["virtualNetworkSubnetId"].startswith("empty(subnetId)")


def test_maximum_instance_count_stays_within_flex_consumption_limits(bicep):
    main = bicep["main.bicep"]
    text = main.text
    assert re.search(r"@minValue\(1\)\s*@maxValue\(1000\)\s*param maximumInstanceCount int = 100", text)
    for path in sorted((INFRA / "env").glob("*.bicepparam")):
        value = int(re.search(r"^param maximumInstanceCount = (\d+)$", path.read_text(), re.M).group(1))  # type: ignore[union-attr]
        assert 1 <= value <= 1000, path.name
    assert bicep["main.bicep"].params["instanceMemoryMB"] == 2048


# Rules of https://json.schemastore.org/host.json (version 2 with extension bundle 2+), as published: the keys
# a version 2.0 host.json may have at the top, and what the Service Bus section allows.
HOST_KEYS = {
    "version",
    "extensionBundle",
    "aggregator",
    "functions",
    "functionTimeout",
    "healthMonitor",
    "languageWorker",
    "logging",
    "managedDependency",
    "retry",
    "customHandler",
    "singleton",
    "watchDirectories",
    "watchFiles",
    "extensions",
    "concurrency",
    "sendCanceledInvocationsToWorker",
    # Documented by Azure Functions for OpenTelemetry output; see docs/azure.md about the schema.
    "telemetryMode",
}
SERVICE_BUS_KEYS = {
    "clientRetryOptions",
    "prefetchCount",
    "transportType",
    "webProxy",
    "autoCompleteMessages",
    "maxAutoLockRenewalDuration",
    "maxConcurrentCalls",
    "maxConcurrentSessions",
    "maxMessageBatchSize",
    "maxBatchWaitTime",
    "sessionIdleTimeout",
    "enableCrossEntityTransactions",
}
TIMESPAN = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d$")
LOG_LEVELS = {"Critical", "Debug", "Error", "Information", "None", "Trace", "Warning"}


def test_host_json_follows_the_published_schema():
    host = json.loads((ROOT / "host.json").read_text())
    assert host["version"] == "2.0"
    assert set(host) <= HOST_KEYS
    assert TIMESPAN.match(host["functionTimeout"])
    assert set(host["logging"]["logLevel"].values()) <= LOG_LEVELS
    assert set(host["extensions"]) <= {"http", "serviceBus"}
    assert set(host["extensions"]["http"]) <= {
        "routePrefix",
        "maxConcurrentRequests",
        "maxOutstandingRequests",
        "dynamicThrottlesEnabled",
        "hsts",
        "customHeaders",
    }
    bus = host["extensions"]["serviceBus"]
    assert set(bus) <= SERVICE_BUS_KEYS
    for key in ("maxAutoLockRenewalDuration", "sessionIdleTimeout"):
        assert TIMESPAN.match(bus[key]), key
    retry = bus["clientRetryOptions"]
    assert retry["mode"] in {"exponential", "fixed"}  # lowercase: "Exponential" fails the schema
    assert TIMESPAN.match(retry["tryTimeout"]) and TIMESPAN.match(retry["maxDelay"])
    assert re.match(r"^(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d\d$", retry["delay"])
    assert isinstance(retry["maxRetries"], int)


def test_werkzeug_is_declared_where_the_app_imports_it():
    imported = any("werkzeug" in path.read_text() for path in (ROOT / "shared").rglob("*.py"))
    declared = re.search(r"^werkzeug\b", (ROOT / "requirements.txt").read_text(), re.M | re.I)
    assert not imported or declared
