"""The four papers: the parameters cell, the kit every paper notebook shares, one module per paper."""
