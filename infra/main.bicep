// Order-to-cash on Azure: one resource group with the Function App (Flex Consumption, Python 3.11), its
// user-assigned identity, Service Bus, Table/Blob storage, Key Vault, Application Insights, alerts and a
// workbook. `azd up` deploys it with main.parameters.json; pipelines use env/<name>.bicepparam.
targetScope = 'subscription'

@minLength(1)
@maxLength(24)
@description('Environment name (dev, test, prod, or an azd environment name); part of every resource name.')
param environmentName string

@minLength(1)
@description('Azure region for every resource.')
param location string

@description('Object id of a person or group to grant data access for troubleshooting; empty for none.')
param principalId string = ''

@description('Maximum Flex Consumption instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory per instance in MB (Flex Consumption sizes).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Log Analytics retention in days.')
@minValue(30)
@maxValue(730)
param logRetentionDays int = 30

@description('Key Vault purge protection: on in production, off where environments are torn down often.')
param keyVaultPurgeProtection bool = false

@description('Store webhook secrets kept in Key Vault: app setting name (read by the store YAML as env:NAME) and secret name. Values are set with `az keyvault secret set`, never here.')
param storeSecrets array = [
  {
    setting: 'DEMO_WOO_SECRET'
    secretName: 'demo-woo-webhook-secret'
  }
  {
    setting: 'DEMO_SHOPIFY_SECRET'
    secretName: 'demo-shopify-webhook-secret'
  }
]

@description('E-mail address alerts go to; empty for alerts without notification (portal only).')
param alertEmail string = ''

@description('Orders held in one hour above which the held-orders alert fires.')
param heldOrdersThreshold int = 10

@description('Queue age in seconds above which the queue-age alert fires.')
param queueAgeThresholdSeconds int = 600

var tags = {
  'azd-env-name': environmentName
  application: 'order-to-cash'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var queueNames = [
  'order-events'
  'invoice-requests'
  'stock-updates'
  'payment-events'
]

resource group 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-o2c-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: group
  params: {
    name: 'id-o2c-${environmentName}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: group
  params: {
    logAnalyticsName: 'log-o2c-${environmentName}'
    appInsightsName: 'appi-o2c-${environmentName}'
    location: location
    tags: tags
    retentionInDays: logRetentionDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: group
  params: {
    name: 'sto2c${token}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    claimCheckContainerName: 'claim-checks'
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: group
  params: {
    name: 'sb-o2c-${token}'
    location: location
    tags: tags
    queueNames: queueNames
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: group
  params: {
    name: 'kv-o2c-${take(token, 13)}'
    location: location
    tags: tags
    purgeProtection: keyVaultPurgeProtection
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: group
  params: {
    name: 'func-o2c-${token}'
    planName: 'plan-o2c-${environmentName}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    blobEndpoint: storage.outputs.blobEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    serviceBusNamespaceFqdn: serviceBus.outputs.fullyQualifiedNamespace
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    keyVaultUri: keyVault.outputs.uri
    storeSecrets: storeSecrets
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: group
  params: {
    principalId: identity.outputs.principalId
    operatorPrincipalId: principalId
    serviceBusName: serviceBus.outputs.name
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: group
  params: {
    environmentName: environmentName
    location: location
    tags: tags
    serviceBusId: serviceBus.outputs.id
    appInsightsId: monitoring.outputs.appInsightsId
    alertEmail: alertEmail
    heldOrdersThreshold: heldOrdersThreshold
    queueAgeThresholdSeconds: queueAgeThresholdSeconds
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: group
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
    environmentName: environmentName
  }
}

// Names and endpoints only: nothing here grants access.
output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = group.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_URL string = functionApp.outputs.defaultUrl
output SERVICE_BUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output KEY_VAULT_NAME string = keyVault.outputs.name
