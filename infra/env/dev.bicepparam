// Development: small scale, short retention, vault purgeable so the environment can be torn down.
using '../main.bicep'

param environmentName = 'dev'
param location = 'westeurope'
param maximumInstanceCount = 10
param instanceMemoryMB = 2048
param authClientId = readEnvironmentVariable('AUTH_CLIENT_ID', '')
param logRetentionDays = 30
param keyVaultPurgeProtection = false
param heldOrdersThreshold = 5
param queueAgeThresholdSeconds = 900
