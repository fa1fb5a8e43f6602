# Private ECR: repositories and their settings, and registry-wide settings.

resource "aws_ecr_repository" "fraud_model" {
  name                 = "ml/fraud-model"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = true

  image_scanning_configuration {
    scan_on_push = true
  }

  tags = {
    team        = "risk"
    cost-center = "ml-42"
  }
}

resource "aws_ecr_repository" "scratch" {
  name                 = "ml/scratch"
  image_tag_mutability = "MUTABLE"
  force_delete         = true

  image_scanning_configuration {
    scan_on_push = false
  }
}

resource "aws_ecr_repository_policy" "fraud_model" {
  repository = aws_ecr_repository.fraud_model.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CiPulls"
      Effect    = "Allow"
      Principal = { AWS = aws_iam_user.ci.arn }
      Action    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    }]
  })
}

resource "aws_ecr_lifecycle_policy" "fraud_model" {
  repository = aws_ecr_repository.fraud_model.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "drop untagged images after a week"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "keep the last 30 release images"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["release-"]
          countType     = "imageCountMoreThan"
          countNumber   = 30
        }
        action = { type = "expire" }
      },
    ]
  })
}

# Registry policies (scope V1) only accept these three actions.
resource "aws_ecr_registry_policy" "this" {
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "SameAccountReplication"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::${local.account_id}:root" }
      Action    = ["ecr:ReplicateImage", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]
      Resource  = "arn:aws:ecr:us-east-1:${local.account_id}:repository/*"
    }]
  })
}

resource "aws_ecr_replication_configuration" "this" {
  replication_configuration {
    rule {
      destination {
        region      = var.replication_region
        registry_id = local.account_id
      }
      repository_filter {
        filter      = "ml"
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}

resource "aws_ecr_registry_scanning_configuration" "this" {
  scan_type = "BASIC"

  rule {
    scan_frequency = "SCAN_ON_PUSH"
    repository_filter {
      filter      = "ml/*"
      filter_type = "WILDCARD"
    }
  }
}
