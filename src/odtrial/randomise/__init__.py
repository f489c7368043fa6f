"""randomise"""
