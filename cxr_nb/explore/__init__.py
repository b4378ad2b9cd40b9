"""Interactive explorers for JupyterLab, with static fallbacks where no live kernel draws widgets."""
