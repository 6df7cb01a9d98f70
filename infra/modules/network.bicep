// The app's virtual network: one subnet delegated to Flex Consumption (Microsoft.App/environments) with
// service endpoints, so the storage accounts and Key Vault can accept traffic from this subnet only.
param name string
param location string
param tags object
param addressPrefix string = '10.40.0.0/16'
param appSubnetPrefix string = '10.40.0.0/24'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
          serviceEndpoints: [
            {
              service: 'Microsoft.Storage'
            }
            {
              service: 'Microsoft.KeyVault'
            }
          ]
        }
      }
    ]
  }
}

output appSubnetId string = '${vnet.id}/subnets/app'
