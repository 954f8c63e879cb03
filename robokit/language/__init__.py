"""Language: instruction embeddings, instructed envs, the corrections channel (YAY Robot style)."""
