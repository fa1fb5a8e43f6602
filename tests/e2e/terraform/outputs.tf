output "account_id" {
  value = local.account_id
}

output "fraud_model_registry_id" {
  value = aws_ecr_repository.fraud_model.registry_id
}

output "fraud_model_url" {
  value = aws_ecr_repository.fraud_model.repository_url
}

output "fraud_model_arn" {
  value = aws_ecr_repository.fraud_model.arn
}

output "public_tools_uri" {
  value = aws_ecrpublic_repository.tools.repository_uri
}

output "ci_user_arn" {
  value = aws_iam_user.ci.arn
}

output "ci_access_key_id" {
  value = aws_iam_access_key.ci.id
}

output "deployer_role_arn" {
  value = aws_iam_role.deployer.arn
}

output "ci_secret_access_key" {
  value     = aws_iam_access_key.ci.secret
  sensitive = true
}
