"""One training loop; each method (teacher, UM/NOISY/MM students) is a train_step plus
the data it trains on."""
