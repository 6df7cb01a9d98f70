// The Function App on Flex Consumption (FC1), Python 3.11, running as its user-assigned identity.
// Every connection is identity-based: no keys or connection strings in app settings.
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param blobEndpoint string
param tableEndpoint string
param deploymentContainerName string
param serviceBusNamespaceFqdn string
param appInsightsConnectionString string
param keyVaultUri string
param storeSecrets array
param maximumInstanceCount int
param instanceMemoryMB int
param documentsBlobEndpoint string
param documentsContainerName string

@description('Subnet for outbound traffic (VNet integration); empty for none.')
param subnetId string = ''

@description('Client id of the Entra ID app registration people sign in with; empty leaves sign-in off.')
param authClientId string = ''

@description('Paths App Service Authentication lets through without sign-in: store webhooks (HMAC) and health.')
param authExcludedPaths array = [
  '/api/webhooks/*'
  '/api/health'
]

var queueSettings = [
  {
    name: 'OrderEventsQueue'
    value: 'order-events'
  }
  {
    name: 'InvoiceRequestsQueue'
    value: 'invoice-requests'
  }
  {
    name: 'StockUpdatesQueue'
    value: 'stock-updates'
  }
  {
    name: 'PaymentEventsQueue'
    value: 'payment-events'
  }
]

// NCRONTAB schedules of the timers (catch-up poll of store APIs, stuck-order sweep, personal-data retention
// once a day at 03:30 UTC, outbox relay every minute) and the delivery count after which a stage marks the
// order failed (the queues' maxDeliveryCount).
var timerSettings = [
  {
    name: 'CatchUpSchedule'
    value: '0 */10 * * * *'
  }
  {
    name: 'SweepSchedule'
    value: '0 */5 * * * *'
  }
  {
    name: 'RetentionSchedule'
    value: '0 30 3 * * *'
  }
  {
    name: 'OutboxRelaySchedule'
    value: '0 * * * * *'
  }
  // Stock back to the store every 15 minutes (besides after each shipment); webhook subscriptions checked hourly.
  {
    name: 'StockSyncSchedule'
    value: '0 */15 * * * *'
  }
  {
    name: 'WebhookHealthSchedule'
    value: '0 7 * * * *'
  }
  {
    // VERI*FACTU submissions to the AEAT; the sender keeps the AEAT's wait between them itself.
    name: 'VerifactuSendSchedule'
    value: '30 * * * * *'
  }
  {
    name: 'MAX_DELIVERY_COUNT'
    value: '10'
  }
]

var identitySettings = [
  // Functions host storage (leases, timers) through the identity.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  // Service Bus triggers (prefix of the bindings' connection "ServiceBusConnection") and the sender.
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace'
    value: serviceBusNamespaceFqdn
  }
  {
    name: 'ServiceBusConnection__credential'
    value: 'managedidentity'
  }
  {
    name: 'ServiceBusConnection__clientId'
    value: identityClientId
  }
  // DefaultAzureCredential in shared/ picks the user-assigned identity by this client id.
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'STATE_BACKEND'
    value: 'tables'
  }
  {
    name: 'BUS_BACKEND'
    value: 'servicebus'
  }
  {
    name: 'TABLES_ENDPOINT'
    value: tableEndpoint
  }
  {
    name: 'CLAIM_CHECK_BLOB_ENDPOINT'
    value: blobEndpoint
  }
  // Issued documents in Blob Storage (shared/adapters/documents_blob.py), through the identity.
  {
    name: 'DOCUMENT_STORE'
    value: 'blob'
  }
  {
    name: 'DOCUMENTS_ACCOUNT_URL'
    value: documentsBlobEndpoint
  }
  {
    name: 'DOCUMENTS_CONTAINER'
    value: documentsContainerName
  }
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  {
    name: 'PYTHON_ENABLE_OPENTELEMETRY'
    value: 'true'
  }
]

// Key Vault references: the platform resolves them with the identity named in keyVaultReferenceIdentity.
var secretSettings = [
  for secret in storeSecrets: {
    name: secret.setting
    value: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secret.secretName}/)'
  }
]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'api'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(queueSettings, timerSettings, identitySettings, secretSettings)
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// App Service Authentication (Easy Auth) with Microsoft Entra ID: the dashboard and the operator routes need a
// signed-in person (who then appears as the actor of retries, uploads and erasures through the
// X-MS-CLIENT-PRINCIPAL-NAME header); store webhooks and health stay reachable without. Function keys are
// still checked on the operator routes. No client secret: the ID token comes from the implicit flow.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(authClientId)) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: authExcludedPaths
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}

output name string = site.name
output defaultUrl string = 'https://${site.properties.defaultHostName}'
