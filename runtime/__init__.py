"""jrgr_deploy.runtime"""
