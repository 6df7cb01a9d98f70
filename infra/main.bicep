// Order-to-cash on Azure: one resource group with the Function App (Flex Consumption, Python 3.11) in its
// virtual network, its user-assigned identity, Service Bus, Table/Blob storage, a documents storage account,
// Key Vault, Application Insights, alerts and a workbook. `azd up` deploys it with main.parameters.json; pipelines use env/<name>.bicepparam.
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

@description('Maximum Flex Consumption instances: 1 to 1000, and no more than the region allows (docs/azure.md, "Scale limits").')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

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

@description('Client id of the Entra ID app registration people sign in with (dashboard, operator routes); empty leaves App Service Authentication off.')
param authClientId string = ''

@description('Storage accounts and Key Vault accept traffic only from the app\'s subnet (and allowedIpRanges). Off: public endpoints, Entra ID only.')
param restrictNetworkAccess bool = true

@description('Public IPv4 addresses or CIDR ranges that may also reach storage and Key Vault (people setting secrets, troubleshooting).')
param allowedIpRanges array = []

@description('Days an issued document cannot be changed or deleted (immutability policy on the documents container); 0 for none.')
@minValue(0)
param documentImmutabilityDays int = 0

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
// Firewall shared by both storage accounts and the vault (the same shape suits both resource types).
var networkAcls = restrictNetworkAccess
  ? {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      virtualNetworkRules: [
        {
          id: network.outputs.appSubnetId
        }
      ]
      ipRules: map(allowedIpRanges, range => { value: range })
    }
  : {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
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

module network 'modules/network.bicep' = {
  name: 'network'
  scope: group
  params: {
    name: 'vnet-o2c-${environmentName}'
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
    networkAcls: networkAcls
  }
}

module documents 'modules/documents.bicep' = {
  name: 'documents'
  scope: group
  params: {
    name: 'stdoc${token}'
    location: location
    tags: tags
    containerName: 'documents'
    networkAcls: networkAcls
    immutabilityDays: documentImmutabilityDays
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
    networkAcls: networkAcls
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
    documentsBlobEndpoint: documents.outputs.blobEndpoint
    documentsContainerName: documents.outputs.containerName
    subnetId: network.outputs.appSubnetId
    authClientId: authClientId
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
    documentsAccountName: documents.outputs.name
    documentsContainerName: documents.outputs.containerName
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
output DOCUMENTS_ACCOUNT_URL string = documents.outputs.blobEndpoint
output KEY_VAULT_NAME string = keyVault.outputs.name
