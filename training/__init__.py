"""jrgr_deploy.training"""
