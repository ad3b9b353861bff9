"""Bitcoin chain layer: Esplora client, custody wallet, deposit verification, payouts and signers."""
