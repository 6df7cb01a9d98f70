// Key Vault for store secrets (webhook secrets, store API keys, target credentials). RBAC only: the
// app's identity reads secrets through Key Vault references in app settings.
param name string
param location string
param tags object
param purgeProtection bool

@description('Firewall of the vault (main.bicep networkAcls): the app\'s subnet and allowed IP ranges, or open.')
param networkAcls object

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: purgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
    networkAcls: networkAcls
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
