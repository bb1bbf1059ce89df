"""Learners: for each scale, a failure rule that judges any piece (any multiset of skills)."""
