"""Pretraining data: corpus reading, NSP pairs, MLM masking, batching."""
