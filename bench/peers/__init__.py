"""The designs raspa is measured against, implemented as their authors wrote them."""
