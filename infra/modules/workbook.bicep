// Azure Monitor workbook of the order flow: received → validated → invoiced, held and failed, stage
// latency, target calls by outcome and queue age, from the app's metrics in Application Insights.
param location string
param tags object
param appInsightsId string
param environmentName string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'order-flow-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Order flow (${environmentName})'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('../workbook.json')
  }
}

output id string = workbook.id
