// Service Bus: one session-enabled queue per stage. Sessions keep one order's messages in order and one
// at a time; duplicate detection drops a repeated message id (the event key) for 7 days, the maximum.
param name string
param location string
param tags object
param queueNames array

@description('Deliveries before a message is dead-lettered (the order then shows as failed, replayable).')
param maxDeliveryCount int = 10

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  // Sessions and duplicate detection need Standard or Premium; Basic has neither.
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queue in queueNames: {
    parent: namespace
    name: queue
    properties: {
      requiresSession: true
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'P7D'
      maxDeliveryCount: maxDeliveryCount
      deadLetteringOnMessageExpiration: true
      lockDuration: 'PT1M'
      defaultMessageTimeToLive: 'P14D'
      maxSizeInMegabytes: 1024
      enablePartitioning: false
    }
  }
]

output id string = namespace.id
output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
