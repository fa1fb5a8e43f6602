# The provider version this configuration is tested with: tests/e2e/test_terraform.py runs it
# with the hashicorp/aws found in a local filesystem mirror, which must satisfy this.
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100.0, < 6.0.0"
    }
  }
}
