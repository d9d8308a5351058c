/** What to do once one open transaction's fate is known. */
interface Scope {
  committed: Array<() => void>;
  rolledBack: Array<() => void>;
}

/**
 * The callbacks of nested transactions (`Store.afterCommit`, `Store.onRollback`). A nested transaction
 * (a savepoint) that is released hands its callbacks to the enclosing one; one that rolls back runs its
 * rollback callbacks at once, newest first; the outermost one runs its commit callbacks once committed,
 * or every rollback callback when it (or its COMMIT) fails.
 */
export class TransactionCallbacks {
  /** The transactions open now, outermost first. */
  private readonly scopes: Scope[] = [];

  /** Runs `transaction` (which begins, runs and commits or rolls back one transaction) as a scope. */
  run<T>(transaction: () => T): T {
    const scope: Scope = { committed: [], rolledBack: [] };
    this.scopes.push(scope);
    let result: T;
    try {
      result = transaction();
    } catch (error) {
      this.scopes.pop();
      for (const undo of scope.rolledBack.reverse()) undo();
      throw error;
    }
    this.scopes.pop();
    const outer = this.scopes.at(-1);
    if (outer) {
      outer.committed.push(...scope.committed);
      outer.rolledBack.push(...scope.rolledBack);
    } else for (const callback of scope.committed) callback();
    return result;
  }

  afterCommit(callback: () => void): void {
    const scope = this.scopes.at(-1);
    if (scope) scope.committed.push(callback);
    else callback();
  }

  onRollback(callback: () => void): void {
    this.scopes.at(-1)?.rolledBack.push(callback);
  }
}
