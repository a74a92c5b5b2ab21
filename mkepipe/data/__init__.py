"""Dataset adapters (one module each) and dataset manifests."""
