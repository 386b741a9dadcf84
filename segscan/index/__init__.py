"""The LMDB store, vector-index backends, id mapping and similarity-map assembly."""
