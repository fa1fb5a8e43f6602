# ECR Public (signing name ecr-public, region us-east-1).

resource "aws_ecrpublic_repository" "tools" {
  repository_name = "public-tools"
  force_destroy   = true

  catalog_data {
    description       = "Tools published by the ML platform team"
    about_text        = "# public-tools\nBuilt in CI."
    architectures     = ["x86-64"]
    operating_systems = ["Linux"]
  }

  tags = {
    visibility = "public"
  }
}
