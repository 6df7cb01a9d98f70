// Production: more instances, longer retention, purge protection on; alerts mail operations.
using '../main.bicep'

param environmentName = 'prod'
param location = 'westeurope'
param maximumInstanceCount = 100
param instanceMemoryMB = 2048
param authClientId = readEnvironmentVariable('AUTH_CLIENT_ID', '')
param logRetentionDays = 90
param keyVaultPurgeProtection = true
param alertEmail = readEnvironmentVariable('ALERT_EMAIL', '')
param heldOrdersThreshold = 20
param queueAgeThresholdSeconds = 600
