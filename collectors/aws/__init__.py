"""AWS sources: Data Exports in S3, Cost Explorer, CloudWatch metrics and the AI inventory.

They share :mod:`collectors.aws.session` (credentials, assumed roles, regions, endpoint
override, retries and request counting) so each collector is only its own API calls.
"""
