// Catches render errors anywhere below it and shows what went wrong instead of a blank page.
import { Component, type ErrorInfo, type ReactNode } from 'react';

interface Props {
  children: ReactNode;
}

interface State {
  error: Error | null;
}

export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error('[ui] render error', error, info.componentStack);
  }

  override render(): ReactNode {
    const { error } = this.state;
    if (!error) return this.props.children;
    return (
      <div className="app">
        <section className="panel panel-error" role="alert" data-testid="render-error">
          <h2>Something in the page broke</h2>
          <p>The interface hit an error while drawing itself. Reloading usually clears it; if it comes back, the message below helps a bug report.</p>
          <pre className="error-text">
            {error.name}: {error.message}
          </pre>
          <button type="button" className="button" onClick={() => location.reload()}>
            Reload
          </button>
        </section>
      </div>
    );
  }
}
