"""Infrastructure: the resource spec shared by the CDK app and the local stack."""
