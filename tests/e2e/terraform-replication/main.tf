# The seed's replication, applied with Terraform's hashicorp/aws provider to a source
# Strongroom in us-west-2 that replicates to a second instance (us-east-1, the same account)
# registered as its destination. tests/e2e/test_terraform_replication.py copies this
# directory, with ../terraform/versions.tf, in place of ../terraform's configuration.

variable "endpoint" {
  description = "The source's base URL: ECR and STS answer POST / there."
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
  description = "Set by the shared fixture; the seed's destination is us-east-1."
  type        = string
  default     = "us-east-1"
}

provider "aws" {
  region     = "us-west-2"
  access_key = var.access_key
  secret_key = var.secret_key

  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  # aws_ecr_replication_configuration uses the account id as its id (sts:GetCallerIdentity).
  skip_requesting_account_id = false

  endpoints {
    ecr = var.endpoint
    sts = var.endpoint
  }
}

data "aws_caller_identity" "current" {}

resource "aws_ecr_repository" "seed" {
  name         = "seed/app"
  force_delete = true
}

resource "aws_ecr_replication_configuration" "seed" {
  replication_configuration {
    rule {
      destination {
        region      = "us-east-1"
        registry_id = data.aws_caller_identity.current.account_id
      }
      repository_filter {
        filter      = "seed/"
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}
