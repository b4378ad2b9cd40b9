"""What a model did: metrics with confidence intervals, interpretation (CAM, feature maps), the papers' figures."""
