"""devstack: the Docker-free local runtime for this SAM application.

It starts embedded stand-ins for the managed services (Tansu for MSK, nx-27017 for the
MongoDB-compatible database, moto for the AWS APIs), bootstraps them, and serves the
functions of ``template.yaml`` through an emulated API Gateway (REST, payload v1.0), emulated
Kafka event-source mappings and a scheduler. Import name ``devstack`` (never ``localstack``,
which would shadow LocalStack's own package).
"""
