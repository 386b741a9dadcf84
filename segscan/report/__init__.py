"""What a reviewer reads: explanation pictures of matches and the batch job's HTML report."""
