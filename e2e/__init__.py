"""moco's end-to-end tier: cluster providers (``local``, ``kind``) and the e2e suite.

The suite (``e2e/test_*.py``, marker ``e2e``) runs against whatever cluster ``KUBECONFIG`` names;
``make cluster`` brings one up with the provider that fits the machine.
"""
