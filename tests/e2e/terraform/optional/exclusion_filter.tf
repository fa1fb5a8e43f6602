# Only used with provider versions whose aws_ecr_repository has the
# image_tag_mutability_exclusion_filter block (6.x; the test reads the provider schema).

resource "aws_ecr_repository" "releases" {
  name                 = "ml/releases"
  image_tag_mutability = "IMMUTABLE_WITH_EXCLUSION"
  force_delete         = true

  image_tag_mutability_exclusion_filter {
    filter      = "latest"
    filter_type = "WILDCARD"
  }

  image_tag_mutability_exclusion_filter {
    filter      = "dev-*"
    filter_type = "WILDCARD"
  }
}
