"""Classification: losses, networks and learners, and the runners that train folds and trials."""
