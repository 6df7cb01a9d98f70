// Issued documents (UBL XML): their own storage account with the container `documents`, blob
// `<store_id>/<number>.xml`, written create-if-absent by shared/adapters/documents_blob.py. Apart from the
// host's account so that the app's identity holds only Storage Blob Data Contributor on this container here.
param name string
param location string
param tags object
param containerName string

@description('Firewall of the account (main.bicep networkAcls): the app\'s subnet and allowed IP ranges, or open.')
param networkAcls object

@description('Days a document cannot be changed or deleted (container immutability policy, unlocked); 0 for none.')
@minValue(0)
@maxValue(146000)
param immutabilityDays int = 0

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: networkAcls
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // A document deleted by mistake can be restored for 30 days.
    deleteRetentionPolicy: {
      enabled: true
      days: 30
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 30
    }
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

// Write once, read many: blobs can be created but not changed or deleted for immutabilityDays. Left unlocked
// here (it can still be shortened or removed); lock it by hand once you are sure (docs/azure.md).
resource immutability 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = if (immutabilityDays > 0) {
  parent: container
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: immutabilityDays
    allowProtectedAppendWrites: false
  }
}

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output containerName string = container.name
