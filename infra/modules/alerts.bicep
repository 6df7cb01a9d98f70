// Alert rules on the order flow: dead-lettered messages (Service Bus metric) and, from the app's own
// OpenTelemetry metrics and requests in Application Insights, rising held orders, failure rate,
// intake 5xx, stuck orders and queue age.
param environmentName string
param location string
param tags object
param serviceBusId string
param appInsightsId string
param alertEmail string
param heldOrdersThreshold int
param queueAgeThresholdSeconds int

@description('Share of received orders that failed in an hour above which the failure-rate alert fires.')
param failureRatePercent int = 5

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-o2c-${environmentName}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'o2c-ops'
    enabled: true
    emailReceivers: [
      {
        name: 'operations'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = empty(alertEmail) ? [] : [
  {
    actionGroupId: actionGroup.id
  }
]

resource deadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: 'alert-o2c-${environmentName}-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages were dead-lettered: orders are failed and need a replay.'
    severity: 1
    enabled: true
    scopes: [
      serviceBusId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: 'DeadletteredMessages'
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
        }
      ]
    }
    actions: actions
  }
}

var logAlerts = [
  {
    key: 'held-orders-rising'
    description: 'More orders than usual are held for a person (unmapped SKUs, totals, tax ids).'
    severity: 2
    window: 'PT1H'
    query: 'customMetrics | where name == "orders_held" | summarize held = sum(valueSum) | where held > ${heldOrdersThreshold}'
  }
  {
    key: 'failure-rate'
    description: 'Failed orders exceed ${failureRatePercent}% of received orders in the last hour.'
    severity: 1
    window: 'PT1H'
    query: 'customMetrics | where name in ("orders_failed", "orders_received") | summarize failed = sumif(valueSum, name == "orders_failed"), received = sumif(valueSum, name == "orders_received") | where received > 0 and failed * 100.0 / received > ${failureRatePercent}'
  }
  {
    key: 'intake-5xx'
    description: 'The webhook intake answered 5xx: stores may not retry (WooCommerce does not).'
    severity: 1
    window: 'PT15M'
    query: 'requests | where url has "/api/webhooks/" and toint(resultCode) >= 500 | summarize errors = count() | where errors > 0'
  }
  {
    key: 'stuck-orders'
    description: 'The stuck-order sweeper found orders past their stage deadline.'
    severity: 2
    window: 'PT30M'
    query: 'customMetrics | where name == "orders_stuck" | summarize stuck = max(valueMax) by store = tostring(customDimensions["store.id"]) | where stuck > 0'
  }
  {
    key: 'queue-age'
    description: 'Messages waited more than ${queueAgeThresholdSeconds} seconds before a stage started on them.'
    severity: 2
    window: 'PT15M'
    query: 'customMetrics | where name == "queue_age_seconds" | summarize oldest = max(valueMax) by stage = tostring(customDimensions["stage"]) | where oldest > ${queueAgeThresholdSeconds}'
  }
  {
    key: 'webhooks-unhealthy'
    description: 'A store has a needed webhook subscription missing, disabled, paused or pointing elsewhere: orders arrive only with the catch-up poll. Repair: python -m local.cli webhooks repair STORE.'
    severity: 2
    window: 'PT2H' // the check runs hourly
    query: 'customMetrics | where name == "webhooks_unhealthy" | summarize unhealthy = max(valueMax) by store = tostring(customDimensions["store.id"]) | where unhealthy > 0'
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [
  for alert in logAlerts: {
    name: 'alert-o2c-${environmentName}-${alert.key}'
    location: location
    tags: tags
    properties: {
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        appInsightsId
      ]
      evaluationFrequency: 'PT5M'
      windowSize: alert.window
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(alertEmail) ? [] : [
          actionGroup.id
        ]
      }
    }
  }
]
