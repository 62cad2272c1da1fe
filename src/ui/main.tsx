// The page's entry: creates the store around the real engine worker, mounts the shell inside an
// error boundary, and starts the engine.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { ErrorBoundary } from './ErrorBoundary.tsx';
import { startEngine } from '../worker/client.ts';
import { createPlaygroundStore, PlaygroundStoreProvider } from './store.ts';
import './styles.css';

const rootElement = document.getElementById('root');
if (!rootElement) throw new Error('index.html has no #root element');

const store = createPlaygroundStore(startEngine);

createRoot(rootElement).render(
  <StrictMode>
    <ErrorBoundary>
      <PlaygroundStoreProvider store={store}>
        <App />
      </PlaygroundStoreProvider>
    </ErrorBoundary>
  </StrictMode>,
);

// Outside React's effects, so StrictMode's double invocation cannot start two workers.
store.getState().start();
