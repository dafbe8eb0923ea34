/**
 * Netdata's health expression language: parse, evaluate with a trace, and re-print.
 * See docs/health-expressions.md and §2.5 of shared/design/netdata-health-semantics.md.
 *
 * @module
 */

export {
  EVAL_ERROR,
  type EvalErrorName,
  type EvalResult,
  evalErrorMessage,
  evalErrorName,
  evaluate,
  type VariableLookup,
} from './eval.js';
export { MAX_VARIABLE_NAME_LENGTH } from './lexer.js';
export {
  type BinaryOp,
  type Expression,
  type ExprNode,
  formatExpression,
  formatNumber,
  MAX_DEPTH,
  MAX_NESTING,
  parseExpression,
  type SourceWhere,
  type UnaryOp,
} from './parser.js';
