# The seeds' repository and registry policies, as their programs set them through
# Terraform's aws_ecr_repository_policy (which has no `force`). Used by
# tests/e2e/test_terraform_policies.py together with ../terraform/main.tf (the provider).

resource "aws_ecr_repository" "everyone_pushes" {
  name         = "seed/everyone-pushes"
  force_delete = true
}

# Every principal may push: stored, with its findings reported.
resource "aws_ecr_repository_policy" "everyone_pushes" {
  repository = aws_ecr_repository.everyone_pushes.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Push"
      Effect    = "Allow"
      Principal = "*"
      Action = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
      ]
    }]
  })
}

resource "aws_ecr_repository" "replicated" {
  name         = "seed/replicated"
  force_delete = true
}

# Pushes only by the registry acting for this repository: grants no user or role.
resource "aws_ecr_repository_policy" "replicated" {
  repository = aws_ecr_repository.replicated.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReplicationOnly"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]
      Condition = {
        StringEquals = { "aws:SourceArn" = aws_ecr_repository.replicated.arn }
      }
    }]
  })
}

# The registry policy, restricted the same way to the registry's own account.
resource "aws_ecr_registry_policy" "seed" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "ReplicateIn"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["ecr:CreateRepository", "ecr:ReplicateImage"]
      Resource  = "arn:aws:ecr:us-east-1:${local.account_id}:repository/*"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
      }
    }]
  })
}

output "everyone_pushes_policy" {
  value = aws_ecr_repository_policy.everyone_pushes.policy
}

output "replicated_policy" {
  value = aws_ecr_repository_policy.replicated.policy
}

output "replicated_arn" {
  value = aws_ecr_repository.replicated.arn
}
