"""Generic controller machinery (client, informer, work queue, controller, leader election, manager).

Knows nothing about MySQL or MOCO; the only package that imports kubernetes_asyncio.
"""
