# Strongroom as Amazon ECR, ECR Public and IAM for the hashicorp/aws provider.
#
# tests/e2e/test_terraform.py applies, plans and destroys this configuration against a real
# server; README.md beside this file says how to run it by hand against a local server.

variable "endpoint" {
  description = "Strongroom's base URL: ECR, ECR Public, IAM and STS all answer POST / there."
  type        = string
}

variable "access_key" {
  type = string
}

variable "secret_key" {
  type      = string
  sensitive = true
}

variable "replication_region" {
  description = "Where the replication rule sends images (not the provider's region)."
  type        = string
  default     = "us-west-2"
}

provider "aws" {
  region     = "us-east-1" # ECR Public only exists in us-east-1
  access_key = var.access_key
  secret_key = var.secret_key

  # Strongroom is not AWS: no EC2 metadata, no region list, no credential check up front.
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # But the account id is needed: aws_ecr_replication_configuration and
  # aws_ecr_registry_scanning_configuration use it as their id (an empty id loses the
  # resource right after create). The provider asks sts:GetCallerIdentity, which Strongroom
  # answers on the sts endpoint below.
  skip_requesting_account_id = false

  endpoints {
    ecr       = var.endpoint
    ecrpublic = var.endpoint
    iam       = var.endpoint
    sts       = var.endpoint
  }
}

# The registry (account) id as the server reports it: nothing here knows it in advance.
data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
}
