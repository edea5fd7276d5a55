"""Ray Data stages: decode, keypoints, fit, shards, tokenize."""
