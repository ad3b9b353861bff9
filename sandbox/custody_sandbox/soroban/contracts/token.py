"""Model of ``istsi_token``: a SEP-41 token, 8 decimals, 1 base unit = 1 satoshi.

Amounts are i128 token base units. Errors (docs/CONTRACTS.md): 1 Unauthorized,
10 InsufficientBalance, 11 InsufficientAllowance, 12 NegativeAmount. An allowance past its
``expiration_ledger`` counts as zero, as in the SEP-41 reference token.
"""

from __future__ import annotations

from stellar_sdk import scval

from chains.soroban.error_codes import CONTRACT_ERRORS, ISTSI_TOKEN
from custody_sandbox.soroban.codec import ADDRESS, I128, STRING, U32, Struct
from custody_sandbox.soroban.contracts.base import ContractModel, contractfn

ALLOWANCE = Struct((("amount", I128), ("expiration_ledger", U32)))


class TokenContract(ContractModel):
    NAME = ISTSI_TOKEN
    ERRORS = CONTRACT_ERRORS[NAME]  # docs/CONTRACTS.md, shared with the client
    TOKEN_NAME = "iSTSi"
    TOKEN_SYMBOL = "iSTSi"
    DECIMALS = 8

    @contractfn(ADDRESS, name="__constructor")
    def constructor(self, admin: str) -> None:
        """Deploy-time constructor: records the admin (who may set the minter)."""
        if self.load(ADDRESS, "Admin") is not None:
            self.fail(1)
        self.store(ADDRESS, admin, "Admin")

    @contractfn(returns=STRING)
    def name(self) -> str:
        return self.TOKEN_NAME

    @contractfn(returns=STRING)
    def symbol(self) -> str:
        return self.TOKEN_SYMBOL

    @contractfn(returns=U32)
    def decimals(self) -> int:
        return self.DECIMALS

    @contractfn(returns=I128)
    def total_supply(self) -> int:
        return self.load(I128, "Supply", default=0)

    @contractfn(ADDRESS, returns=I128)
    def balance(self, id: str) -> int:  # noqa: A002 - SEP-41's parameter name
        return self.load(I128, "Balance", id, default=0)

    @contractfn(ADDRESS, ADDRESS, returns=I128)
    def allowance(self, from_: str, spender: str) -> int:
        return self._allowance(from_, spender)

    @contractfn(ADDRESS, ADDRESS, I128, U32)
    def approve(self, from_: str, spender: str, amount: int, expiration_ledger: int) -> None:
        self.require_auth(from_)
        self._non_negative(amount)
        record = {"amount": amount, "expiration_ledger": expiration_ledger}
        self.store(ALLOWANCE, record, "Allowance", from_, spender)
        self.emit(
            [scval.to_symbol("approve"), scval.to_address(from_), scval.to_address(spender)],
            scval.to_vec([scval.to_int128(amount), scval.to_uint32(expiration_ledger)]),
        )

    @contractfn(ADDRESS, ADDRESS, I128)
    def transfer(self, from_: str, to: str, amount: int) -> None:
        self.require_auth(from_)
        self._non_negative(amount)
        self._move(from_, to, amount)

    @contractfn(ADDRESS, ADDRESS, ADDRESS, I128)
    def transfer_from(self, spender: str, from_: str, to: str, amount: int) -> None:
        self.require_auth(spender)
        self._non_negative(amount)
        self._spend_allowance(from_, spender, amount)
        self._move(from_, to, amount)

    @contractfn(ADDRESS, I128)
    def burn(self, from_: str, amount: int) -> None:
        self.require_auth(from_)
        self._non_negative(amount)
        self._burn(from_, amount)

    @contractfn(ADDRESS, ADDRESS, I128)
    def burn_from(self, spender: str, from_: str, amount: int) -> None:
        self.require_auth(spender)
        self._non_negative(amount)
        self._spend_allowance(from_, spender, amount)
        self._burn(from_, amount)

    @contractfn(ADDRESS, I128)
    def mint(self, to: str, amount: int) -> None:
        """Mint ``amount`` base units to ``to``; only the minter (the router) may call it."""
        minter = self.load(ADDRESS, "Minter")
        if minter is None:
            self.fail(1)
        self.require_auth(minter)
        self._non_negative(amount)
        self.store(I128, self.balance(to) + amount, "Balance", to)
        self.store(I128, self.total_supply() + amount, "Supply")
        self.emit([scval.to_symbol("mint"), scval.to_address(to)], scval.to_int128(amount))

    @contractfn(ADDRESS, ADDRESS)
    def set_minter(self, admin: str, minter: str) -> None:
        if admin != self.load(ADDRESS, "Admin"):
            self.fail(1)
        self.require_auth(admin)
        self.store(ADDRESS, minter, "Minter")

    # ---- internals --------------------------------------------------------------------
    def _non_negative(self, amount: int) -> None:
        if amount < 0:
            self.fail(12)

    def _allowance(self, owner: str, spender: str) -> int:
        record = self.load(ALLOWANCE, "Allowance", owner, spender)
        if record is None or record["expiration_ledger"] < self.ledger_sequence:
            return 0
        return record["amount"]

    def _spend_allowance(self, owner: str, spender: str, amount: int) -> None:
        available = self._allowance(owner, spender)
        if available < amount:
            self.fail(11)
        record = self.load(ALLOWANCE, "Allowance", owner, spender)
        record["amount"] = available - amount
        self.store(ALLOWANCE, record, "Allowance", owner, spender)

    def _debit(self, owner: str, amount: int) -> None:
        balance = self.balance(owner)
        if balance < amount:
            self.fail(10)
        self.store(I128, balance - amount, "Balance", owner)

    def _move(self, source: str, to: str, amount: int) -> None:
        self._debit(source, amount)
        self.store(I128, self.balance(to) + amount, "Balance", to)
        self.emit(
            [scval.to_symbol("transfer"), scval.to_address(source), scval.to_address(to)],
            scval.to_int128(amount),
        )

    def _burn(self, source: str, amount: int) -> None:
        self._debit(source, amount)
        self.store(I128, self.total_supply() - amount, "Supply")
        self.emit([scval.to_symbol("burn"), scval.to_address(source)], scval.to_int128(amount))
