"""Who is calling, and may they do it.

Authentication turns request credentials into a :class:`Principal` (verified
credentials are cached, keyed by an HMAC, so no request pays a password hash twice).
Authorization is one seam, :class:`Authorizer`: every route declares an action and a
resource, and the authorizer alone decides. The IAM policy engine replaces today's
rule behind the same seam. Must not import ``api``.
"""
