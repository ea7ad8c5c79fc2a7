"""GCP collectors: BigQuery billing export, Cloud Billing / Catalog, Vertex AI + Monitoring."""
