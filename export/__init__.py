"""jrgr_deploy.export"""
